// Static inspection of a user-supplied BPF object (custom-program, Suricata's xdp-filter-file):
// opened with libbpf (never loaded) to tell a missing file, an unreadable one, something that is not
// an ELF BPF object, and an object without any XDP or tc program apart.
#pragma once

#include <string>
#include <vector>

namespace xb::config {

enum class ProgramFileStatus {
    Ok,
    Missing,        // no such file
    Unreadable,     // exists but cannot be read (permissions, a directory, I/O error)
    NotBpfObject,   // not ELF, an ELF for another machine, or libbpf cannot parse it
    NoAttachable,   // a BPF object without an XDP or tc (sched_cls) program
};

struct ProgramFileReport {
    ProgramFileStatus status = ProgramFileStatus::Ok;
    std::string detail;                 // why, for the diagnostic (errno text, libbpf error)
    std::vector<std::string> programs;  // "name (section)" of every program found
    std::vector<std::string> attachable;  // the XDP and tc ones among them
};

ProgramFileReport inspect_program_file(const std::string& path);

}  // namespace xb::config
