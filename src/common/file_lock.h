// An exclusive advisory lock on a file (flock), held while the owner lives and released by the
// kernel when the process dies, however it dies: the way to tell "another run holds this" from
// "an earlier run was killed and left things behind".
#pragma once

#include <string>

#include "common/owners.h"
#include "common/result.h"

namespace xb {

class FileLock {
public:
    // Creates the directory and the file as needed, takes the lock without waiting and writes our
    // pid into the file. EWOULDBLOCK when it is held, with the holder's pid in the message.
    static Result<FileLock> try_acquire(const std::string& path);

    FileLock(FileLock&&) noexcept = default;
    FileLock& operator=(FileLock&&) noexcept = delete;
    // Removes the file, then releases the lock: nothing is left in the directory.
    ~FileLock();

    const std::string& path() const { return path_; }

private:
    FileLock(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
    std::string path_;
    UniqueFd fd_;  // closing it releases the lock
};

// The inode of the calling thread's network namespace: names a namespace across processes.
Result<unsigned long> current_netns_inode();

}  // namespace xb
