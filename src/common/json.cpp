#include "common/json.h"

#include <cmath>
#include <cstdio>

namespace xb {

void json_escape(std::string& out, std::string_view s) {
    out.push_back('"');
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
    }
    out.push_back('"');
}

void JsonWriter::comma() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!first_.empty()) {
        if (!first_.back()) out_.push_back(',');
        first_.back() = false;
    }
}

JsonWriter& JsonWriter::begin_object() { comma(); out_.push_back('{'); first_.push_back(true); return *this; }
JsonWriter& JsonWriter::end_object() { out_.push_back('}'); first_.pop_back(); return *this; }
JsonWriter& JsonWriter::begin_array() { comma(); out_.push_back('['); first_.push_back(true); return *this; }
JsonWriter& JsonWriter::end_array() { out_.push_back(']'); first_.pop_back(); return *this; }

JsonWriter& JsonWriter::key(std::string_view k) {
    comma();
    json_escape(out_, k);
    out_.push_back(':');
    after_key_ = true;
    return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) { comma(); json_escape(out_, s); return *this; }
JsonWriter& JsonWriter::value(bool b) { comma(); out_ += b ? "true" : "false"; return *this; }
JsonWriter& JsonWriter::value(int64_t n) { comma(); out_ += std::to_string(n); return *this; }
JsonWriter& JsonWriter::value(uint64_t n) { comma(); out_ += std::to_string(n); return *this; }
JsonWriter& JsonWriter::null() { comma(); out_ += "null"; return *this; }
JsonWriter& JsonWriter::raw(std::string_view json) { comma(); out_ += json; return *this; }

JsonWriter& JsonWriter::value(double d) {
    comma();
    if (!std::isfinite(d)) {
        out_ += "null";
        return *this;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", d);
    out_ += buf;
    return *this;
}

}  // namespace xb
