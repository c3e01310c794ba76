#include "common/input_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <linux/magic.h>

#include "common/owners.h"

namespace xb {

namespace {

// Pseudo file systems whose files report st_size 0 (or a size unrelated to what a read returns).
bool pseudo_filesystem(int fd) {
    struct statfs sfs {};
    if (::fstatfs(fd, &sfs) != 0) return false;
    switch (static_cast<unsigned long>(sfs.f_type)) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case BPF_FS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case SECURITYFS_MAGIC:
        return true;
    default:
        return false;
    }
}

const char* file_type_name(mode_t mode) {
    if (S_ISDIR(mode)) return "it is a directory";
    if (S_ISFIFO(mode)) return "it is a FIFO (named pipe), which may never end";
    if (S_ISSOCK(mode)) return "it is a socket";
    if (S_ISCHR(mode)) return "it is a character device, which may never end";
    if (S_ISBLK(mode)) return "it is a block device";
    return "it is not a regular file";
}

bool stop_signal_pending() {
    sigset_t pending;
    if (sigpending(&pending) != 0) return false;
    return sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1;
}

}  // namespace

std::string human_size(size_t bytes) {
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
    return std::to_string(bytes) + " bytes";
}

InputFile open_input_file(const std::string& path, UniqueFd* out, uint64_t* size) {
    InputFile f;
    auto cannot = [&](int err) {
        f.problem = InputFileProblem::CannotOpen;
        f.error = err;
        f.why = std::strerror(err);
        return f;
    };
    if (path.empty()) {
        f.problem = InputFileProblem::CannotOpen;
        f.error = ENOENT;
        f.why = "the file name is empty";
        return f;
    }
    // O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting for one.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd) return cannot(errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return cannot(errno);
    if (!S_ISREG(st.st_mode)) {
        f.problem = InputFileProblem::NotRegular;
        f.why = file_type_name(st.st_mode);
        return f;
    }
    if (st.st_size == 0 && pseudo_filesystem(fd.get())) {
        f.problem = InputFileProblem::NotRegular;
        f.why = "it is a kernel pseudo-file (/proc, /sys and the like) that reports no size";
        return f;
    }
    *size = static_cast<uint64_t>(st.st_size);
    *out = std::move(fd);
    return f;
}

Result<size_t> read_input_some(int fd, void* buf, size_t n) {
    for (;;) {
        if (stop_signal_pending()) return Error{EINTR, "a stop signal (SIGINT or SIGTERM) arrived while reading it"};
        ssize_t got = ::read(fd, buf, n);
        if (got >= 0) return static_cast<size_t>(got);
        if (errno != EINTR) return Error::from_errno(errno, "read");
    }
}

InputFile read_input_file(const std::string& path, size_t max_bytes) {
    UniqueFd fd;
    uint64_t size = 0;
    InputFile f = open_input_file(path, &fd, &size);
    if (!f.ok()) return f;
    auto cannot = [&](int err) {
        f.problem = InputFileProblem::CannotOpen;
        f.error = err;
        f.why = std::strerror(err);
        return f;
    };
    if (size > max_bytes) {
        f.problem = InputFileProblem::TooLarge;
        f.why = "it is " + std::to_string(size) + " bytes, more than the limit of " + human_size(max_bytes);
        return f;
    }
    f.bytes.reserve(static_cast<size_t>(size));
    // Read at most one byte past the limit: a file that grew after fstat is still refused.
    char buf[65536];
    for (;;) {
        if (stop_signal_pending()) {
            f.bytes.clear();
            f.problem = InputFileProblem::Interrupted;
            f.why = "a stop signal (SIGINT or SIGTERM) arrived while reading it";
            return f;
        }
        size_t room = max_bytes + 1 - f.bytes.size();
        ssize_t n = ::read(fd.get(), buf, std::min(sizeof buf, room));
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            f.bytes.clear();
            return cannot(err);
        }
        if (n == 0) break;
        f.bytes.append(buf, static_cast<size_t>(n));
        if (f.bytes.size() > max_bytes) {
            f.bytes.clear();
            f.problem = InputFileProblem::TooLarge;
            f.why = "it grew past the limit of " + human_size(max_bytes) + " while being read";
            return f;
        }
    }
    return f;
}

std::string input_file_refusal(const InputFile& f, const std::string& path, std::string_view what) {
    return "cannot read the " + std::string(what) + " '" + path + "': " + f.why;
}

Result<std::string> read_input_file(const std::string& path, size_t max_bytes, std::string_view what) {
    InputFile f = read_input_file(path, max_bytes);
    if (f.ok()) return std::move(f.bytes);
    int code = f.problem == InputFileProblem::CannotOpen  ? f.error
               : f.problem == InputFileProblem::TooLarge  ? EFBIG
               : f.problem == InputFileProblem::Interrupted ? EINTR
                                                            : EINVAL;
    return Error{code, input_file_refusal(f, path, what)};
}

}  // namespace xb
