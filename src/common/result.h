// Errors as values for the core: Result<T> holds a T or an Error (errno-style code + message).
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace xb {

struct Error {
    int code = 0;          // errno value when the cause is a system call, else EINVAL and the like
    std::string message;   // one sentence, no trailing period

    static Error from_errno(int err, std::string what);  // "what: strerror(err)"
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return std::holds_alternative<T>(v_); }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const Error& error() const { return std::get<Error>(v_); }

private:
    std::variant<T, Error> v_;
};

// Result<void>: success, or an Error.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : err_(std::move(error)), failed_(true) {}
    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const { return err_; }

private:
    Error err_;
    bool failed_ = false;
};

using Status = Result<void>;

}  // namespace xb
