#include "common/mounts.h"

#include <mntent.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <sys/statfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace xb {

std::optional<std::string> find_mount(const std::string& fstype) {
    FILE* f = setmntent("/proc/self/mounts", "re");
    if (!f) return std::nullopt;
    std::optional<std::string> found;
    mntent ent{};
    char buf[4096];
    while (getmntent_r(f, &ent, buf, sizeof buf)) {
        if (fstype == ent.mnt_type) {
            found = ent.mnt_dir;
            break;
        }
    }
    endmntent(f);
    return found;
}

Result<std::string> ensure_mounted(const std::string& fstype, const std::string& path) {
    if (auto where = find_mount(fstype)) return *where;
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
        return Error::from_errno(errno, "cannot create " + path);
    if (::mount(fstype.c_str(), path.c_str(), fstype.c_str(), 0, nullptr) != 0)
        return Error::from_errno(errno, "cannot mount " + fstype + " at " + path);
    return path;
}

namespace {

bool filesystem_known(const std::string& fstype) {
    std::ifstream f("/proc/filesystems");
    for (std::string line; std::getline(f, line);) {
        size_t tab = line.rfind('\t');
        if ((tab == std::string::npos ? line : line.substr(tab + 1)) == fstype) return true;
    }
    return false;
}

// CAP_SYS_ADMIN (bit 21) in the effective set, as mount(2) needs it.
bool has_sys_admin() {
    std::ifstream f("/proc/self/status");
    for (std::string line; std::getline(f, line);) {
        if (line.rfind("CapEff:", 0) != 0) continue;
        unsigned long long caps = std::strtoull(line.c_str() + 7, nullptr, 16);
        return (caps >> 21) & 1;
    }
    return false;
}

}  // namespace

MountOutlook predict_mount(const std::string& fstype, const std::string& path) {
    MountOutlook o;
    if ((o.mounted = find_mount(fstype))) return o;
    if (!filesystem_known(fstype)) {
        o.why_not = "the kernel has no " + fstype + " filesystem (/proc/filesystems)";
        return o;
    }
    if (!has_sys_admin()) {
        o.why_not = "mounting needs CAP_SYS_ADMIN (run as root)";
        return o;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            o.why_not = path + " is not a directory";
            return o;
        }
    } else {
        // ensure_mounted creates the last component only, and sysfs or procfs refuse new directories.
        std::string parent = path.substr(0, path.rfind('/'));
        if (parent.empty()) parent = "/";
        struct statfs sfs {};
        if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
            o.why_not = "cannot create " + path + ": " + parent + " does not exist";
            return o;
        }
        if (::statfs(parent.c_str(), &sfs) == 0 &&
            (static_cast<unsigned long>(sfs.f_type) == SYSFS_MAGIC || static_cast<unsigned long>(sfs.f_type) == PROC_SUPER_MAGIC)) {
            o.why_not = "cannot create " + path + ": " + parent + " is on sysfs or procfs";
            return o;
        }
        if (::access(parent.c_str(), W_OK) != 0) {
            o.why_not = "cannot create " + path + ": " + std::strerror(errno);
            return o;
        }
    }
    o.would_mount = true;
    return o;
}

}  // namespace xb
