// The one way xbypass reads a file it is given (configuration, flows, captures, BPF objects, and
// later rule files and control requests): a regular file or a clear refusal, a size bound, and a
// read that a pending SIGINT/SIGTERM interrupts. Opening uses O_NONBLOCK so that a FIFO without a
// writer never blocks; fstat then refuses everything but regular files with a reported size.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

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

// read_input_file as a Result; `what` names the file in the message ("flows file"). Error::code is the
// errno, EFBIG (too large), EINVAL (not a regular file) or EINTR (a stop signal).
Result<std::string> read_input_file(const std::string& path, size_t max_bytes, std::string_view what);

// "cannot read the flows file '/tmp/x': it is a directory": the sentence for a refused file.
std::string input_file_refusal(const InputFile& f, const std::string& path, std::string_view what);

// "1.5 MiB", "64 KiB", "512 bytes": for size limits in messages.
std::string human_size(size_t bytes);

}  // namespace xb
