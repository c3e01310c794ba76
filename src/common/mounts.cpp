#include "common/mounts.h"

#include <mntent.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>

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

}  // namespace xb
