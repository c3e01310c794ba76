#include "common/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace xb {

namespace {
bool same_file(int fd, const std::string& path) {
    struct stat by_fd {}, by_path {};
    return ::fstat(fd, &by_fd) == 0 && ::stat(path.c_str(), &by_path) == 0 && by_fd.st_dev == by_path.st_dev &&
           by_fd.st_ino == by_path.st_ino;
}
}  // namespace

FileLock::~FileLock() {
    if (fd_) ::unlink(path_.c_str());  // still locked here: nobody can have locked this file since
}

Result<FileLock> FileLock::try_acquire(const std::string& path) {
    std::string dir = path.substr(0, path.rfind('/'));
    if (!dir.empty() && ::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        return Error::from_errno(errno, "cannot create " + dir);
    // A holder unlinks the file before it lets go: a lock taken on a file that is no longer at
    // path is worthless, so open again (bounded: each round means another run just stopped).
    for (int attempt = 0; attempt < 8; ++attempt) {
        UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        if (!fd) return Error::from_errno(errno, "cannot open " + path);
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
            int err = errno;
            if (err != EWOULDBLOCK) return Error::from_errno(err, "cannot lock " + path);
            char buf[32] = {};
            ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
            std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("?");
            while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
            return Error{EWOULDBLOCK, path + " is held by pid " + holder};
        }
        if (!same_file(fd.get(), path)) continue;
        std::string pid = std::to_string(::getpid()) + "\n";
        if (::ftruncate(fd.get(), 0) != 0 ||
            ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
            return Error::from_errno(errno, "cannot write " + path);
        return FileLock(path, std::move(fd));
    }
    return Error{EAGAIN, "cannot lock " + path + ": it keeps being replaced"};
}

Result<unsigned long> current_netns_inode() {
    struct stat st {};
    // thread-self: a thread that entered another namespace must see its own.
    if (::stat("/proc/thread-self/ns/net", &st) != 0) return Error::from_errno(errno, "cannot stat /proc/thread-self/ns/net");
    return static_cast<unsigned long>(st.st_ino);
}

}  // namespace xb
