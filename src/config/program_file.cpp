#include "config/program_file.h"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "common/input_file.h"
#include "common/owners.h"

namespace xb::config {

namespace {

constexpr unsigned kEmBpf = 247;  // EM_BPF

// libbpf prints through one global callback; while we inspect a file we keep its last warning
// for the diagnostic instead of letting it reach stderr.
thread_local std::string* g_libbpf_capture = nullptr;

int capture_libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
    if (level == LIBBPF_DEBUG || !g_libbpf_capture) return 0;
    char buf[512];
    int n = std::vsnprintf(buf, sizeof buf, fmt, args);
    if (n > 0) {
        std::string line(buf);
        while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
        if (line.rfind("libbpf: ", 0) == 0) line.erase(0, 8);
        *g_libbpf_capture = line;
    }
    return 0;
}

class LibbpfPrintCapture {
public:
    explicit LibbpfPrintCapture(std::string* sink) : previous_(libbpf_set_print(capture_libbpf_print)) {
        g_libbpf_capture = sink;
    }
    ~LibbpfPrintCapture() {
        g_libbpf_capture = nullptr;
        libbpf_set_print(previous_);
    }
    LibbpfPrintCapture(const LibbpfPrintCapture&) = delete;
    LibbpfPrintCapture& operator=(const LibbpfPrintCapture&) = delete;

private:
    libbpf_print_fn_t previous_;
};

bool is_attachable(bpf_prog_type t) {
    return t == BPF_PROG_TYPE_XDP || t == BPF_PROG_TYPE_SCHED_CLS || t == BPF_PROG_TYPE_SCHED_ACT;
}

}  // namespace

ProgramFileReport inspect_program_file(const std::string& path) {
    ProgramFileReport r;
    InputFile in = read_input_file(path, kMaxBpfObjectBytes);
    if (!in.ok()) {
        r.status = in.problem == InputFileProblem::CannotOpen && (in.error == ENOENT || in.error == ENOTDIR)
                       ? ProgramFileStatus::Missing
                       : ProgramFileStatus::Unreadable;
        r.detail = in.why;
        return r;
    }
    const auto* header = reinterpret_cast<const unsigned char*>(in.bytes.data());
    if (in.bytes.size() < 20 || std::memcmp(header, "\x7f" "ELF", 4) != 0) {
        r.status = ProgramFileStatus::NotBpfObject;
        r.detail = "it is not an ELF file";
        return r;
    }
    // e_machine: 2 bytes at offset 18, in the byte order named by EI_DATA (1 = little endian).
    unsigned machine = header[5] == 1 ? (header[18] | header[19] << 8) : (header[18] << 8 | header[19]);
    if (machine != kEmBpf) {
        r.status = ProgramFileStatus::NotBpfObject;
        r.detail = "it is an ELF file for machine " + std::to_string(machine) + ", not BPF (" +
                   std::to_string(kEmBpf) + ")";
        return r;
    }
    std::string libbpf_message;
    BpfObjectPtr obj;
    {
        LibbpfPrintCapture capture(&libbpf_message);
        std::string base = path.substr(path.find_last_of('/') + 1);
        std::string name = base.substr(0, base.find('.'));
        LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name.c_str());
        obj.reset(bpf_object__open_mem(in.bytes.data(), in.bytes.size(), &opts));
    }
    if (!obj) {
        int err = errno;
        r.status = ProgramFileStatus::NotBpfObject;
        r.detail = "libbpf cannot open it: " + (libbpf_message.empty() ? std::string(std::strerror(err)) : libbpf_message);
        return r;
    }
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, obj.get()) {
        std::string desc = std::string(bpf_program__name(prog)) + " (" + bpf_program__section_name(prog) + ")";
        r.programs.push_back(desc);
        if (is_attachable(bpf_program__type(prog))) r.attachable.push_back(desc);
    }
    if (r.attachable.empty()) {
        r.status = ProgramFileStatus::NoAttachable;
        r.detail = r.programs.empty() ? "it contains no program" : "its programs are of other types";
    }
    return r;
}

}  // namespace xb::config
