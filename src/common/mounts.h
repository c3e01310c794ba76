// bpffs and tracefs: where they are mounted, and mounting them where missing.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"

namespace xb {

// The first mount point of the given filesystem type ("bpf", "tracefs") in /proc/self/mounts.
std::optional<std::string> find_mount(const std::string& fstype);

// Ensures a filesystem of fstype is mounted at path (creating the directory), returning where it is.
// If one is already mounted elsewhere, that mount point is returned and nothing is mounted.
Result<std::string> ensure_mounted(const std::string& fstype, const std::string& path);

inline Result<std::string> ensure_bpffs() { return ensure_mounted("bpf", "/sys/fs/bpf"); }
inline Result<std::string> ensure_tracefs() { return ensure_mounted("tracefs", "/sys/kernel/tracing"); }

}  // namespace xb
