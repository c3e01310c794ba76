// RAII owners: a file descriptor, a libbpf object and a libbpf link close themselves.
#pragma once

#include <unistd.h>

#include <memory>
#include <utility>

struct bpf_object;
struct bpf_link;

namespace xb {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept {
        if (this != &o) reset(o.release());
        return *this;
    }
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    explicit operator bool() const { return valid(); }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

struct BpfObjectCloser {
    void operator()(bpf_object* obj) const;
};
struct BpfLinkDestroyer {
    void operator()(bpf_link* link) const;
};

// bpf_object__close on destruction.
using BpfObjectPtr = std::unique_ptr<bpf_object, BpfObjectCloser>;
// bpf_link__destroy on destruction: detaches unless the link was pinned.
using BpfLinkPtr = std::unique_ptr<bpf_link, BpfLinkDestroyer>;

}  // namespace xb
