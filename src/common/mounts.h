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

// What ensure_mounted(fstype, path) would do, without doing it (`xbypass check` mounts nothing):
// the mount point found or to be made, or why the mount would fail (no such filesystem in
// /proc/filesystems, no CAP_SYS_ADMIN, a path that cannot be a mount point).
struct MountOutlook {
    std::optional<std::string> mounted;  // already mounted there: ensure_mounted does nothing
    bool would_mount = false;            // not mounted, and ensure_mounted would mount it at `path`
    std::string why_not;                 // neither: the reason the mount would fail
};
MountOutlook predict_mount(const std::string& fstype, const std::string& path);

inline Result<std::string> ensure_bpffs() { return ensure_mounted("bpf", "/sys/fs/bpf"); }
inline Result<std::string> ensure_tracefs() { return ensure_mounted("tracefs", "/sys/kernel/tracing"); }

}  // namespace xb
