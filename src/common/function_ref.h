// A non-owning reference to a callable, for callbacks that only run during the call they are passed
// to (the matcher's on_match, TCP reassembly's deliver). std::function would copy the lambda and,
// once its captures pass 16 bytes, allocate: once per packet on the engine's hot path.
// The referenced callable must outlive the FunctionRef: take it as a parameter, never store it.
#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace xb {

template <class Signature>
class FunctionRef;

template <class R, class... Args>
class FunctionRef<R(Args...)> {
public:
    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> && std::is_invocable_r_v<R, F&, Args...>)
    FunctionRef(F&& f) noexcept {  // NOLINT: implicit, as std::function's is
        using T = std::remove_reference_t<F>;
        if constexpr (std::is_function_v<T>) {
            // A function has no object address; its pointer is kept as a generic function pointer.
            target_.function = reinterpret_cast<void (*)()>(&f);
            call_ = [](Target t, Args... args) -> R {
                return std::invoke(reinterpret_cast<T*>(t.function), std::forward<Args>(args)...);
            };
        } else {
            target_.object = const_cast<void*>(static_cast<const void*>(std::addressof(f)));
            call_ = [](Target t, Args... args) -> R {
                return std::invoke(*static_cast<T*>(t.object), std::forward<Args>(args)...);
            };
        }
    }

    R operator()(Args... args) const { return call_(target_, std::forward<Args>(args)...); }

private:
    union Target {
        void* object;
        void (*function)();
    };
    Target target_;
    R (*call_)(Target, Args...);
};

}  // namespace xb
