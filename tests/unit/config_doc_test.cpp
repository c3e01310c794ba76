// doc/troubleshooting.md must have an entry for every diagnostic code used anywhere under src/
// (all areas, not only configuration): a heading, table row or list item naming the code.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace {

namespace fs = std::filesystem;

const fs::path kSrc = XB_SRCDIR;

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Every "XB" followed by four digits in text.
std::vector<std::string> codes_in(const std::string& text) {
    std::vector<std::string> out;
    for (size_t pos = text.find("XB"); pos != std::string::npos; pos = text.find("XB", pos + 1)) {
        if (pos + 6 > text.size()) break;
        bool digits = std::all_of(text.begin() + pos + 2, text.begin() + pos + 6, [](char c) { return c >= '0' && c <= '9'; });
        bool longer = pos + 6 < text.size() && text[pos + 6] >= '0' && text[pos + 6] <= '9';
        if (digits && !longer) out.push_back(text.substr(pos, 6));
    }
    return out;
}

TEST(CodesIn, FindsExactlyFourDigitCodes) {
    EXPECT_EQ(codes_in("a XB1203 b \"XB0001\" XB12 XB12345 XBab12 XB9999"),
              (std::vector<std::string>{"XB1203", "XB0001", "XB9999"}));
}

// Codes used anywhere in src/ must have an entry in doc/troubleshooting.md (a heading, table row or
// list item that names the code).
TEST(Troubleshooting, EveryCodeInTheSourceIsDocumented) {
    std::map<std::string, std::string> used;  // code -> first file using it
    for (const auto& e : fs::recursive_directory_iterator(kSrc / "src")) {
        if (!e.is_regular_file()) continue;
        auto ext = e.path().extension().string();
        if (ext != ".cpp" && ext != ".h" && ext != ".c") continue;
        std::string text = read_all(e.path());
        for (const auto& code : codes_in(text)) used.emplace(code, fs::relative(e.path(), kSrc).string());
    }
    ASSERT_FALSE(used.empty());
    std::set<std::string> documented;
    std::istringstream doc(read_all(kSrc / "doc/troubleshooting.md"));
    for (std::string line; std::getline(doc, line);) {
        if (line.empty() || (line[0] != '#' && line[0] != '|' && line[0] != '-' && line[0] != '*')) continue;
        for (const auto& code : codes_in(line)) documented.insert(code);
    }
    for (const auto& [code, file] : used)
        EXPECT_TRUE(documented.count(code)) << code << " (used in " << file << ") has no entry in doc/troubleshooting.md";
}

}  // namespace
