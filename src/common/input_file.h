// The one way xbypass reads a file it is given (configuration, flows, captures, BPF objects, and
// later rule files and control requests): a regular file or a clear refusal, a size bound, and a
// read that a pending SIGINT/SIGTERM interrupts. Opening uses O_NONBLOCK so that a FIFO without a
// writer never blocks; fstat then refuses everything but regular files with a reported size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/owners.h"
#include "common/result.h"

namespace xb {

// The largest BPF object (custom-program, xdp-filter-file) read; real ones are a few hundred KiB.
inline constexpr size_t kMaxBpfObjectBytes = 32u << 20;

// Why a file was refused, so that callers pick their diagnostic code.
enum class InputFileProblem {
    None,
    CannotOpen,   // open/fstat/read failed (Error::code is the errno)
    NotRegular,   // directory, FIFO, socket, device, or a /proc or /sys file that reports no size
    TooLarge,     // more than max_bytes
    Interrupted,  // SIGINT or SIGTERM became pending while reading
};

struct InputFile {
    std::string bytes;
    InputFileProblem problem = InputFileProblem::None;
    std::string why;  // the refusal's reason, e.g. "it is a directory"; empty when read
    int error = 0;    // errno for CannotOpen

    bool ok() const { return problem == InputFileProblem::None; }
};

// Reads the whole of `path` (at most max_bytes).
InputFile read_input_file(const std::string& path, size_t max_bytes);

// Opens `path` as read_input_file does (O_NONBLOCK, regular files only), for a caller that reads it in
// pieces (a capture of any size). The returned InputFile has no bytes; when it is ok(), *fd is open and
// *size is the size fstat reported. No size bound: the caller bounds what it holds at once.
InputFile open_input_file(const std::string& path, UniqueFd* fd, uint64_t* size);

// One read() of an opened input: the bytes read (0 at the end), or Error EINTR when a stop signal
// (SIGINT or SIGTERM, blocked by the caller) is pending, or the read's errno.
Result<size_t> read_input_some(int fd, void* buf, size_t n);

// read_input_file as a Result; `what` names the file in the message ("flows file"). Error::code is the
// errno, EFBIG (too large), EINVAL (not a regular file) or EINTR (a stop signal).
Result<std::string> read_input_file(const std::string& path, size_t max_bytes, std::string_view what);

// "cannot read the flows file '/tmp/x': it is a directory": the sentence for a refused file.
std::string input_file_refusal(const InputFile& f, const std::string& path, std::string_view what);

// "1.5 MiB", "64 KiB", "512 bytes": for size limits in messages.
std::string human_size(size_t bytes);

}  // namespace xb
