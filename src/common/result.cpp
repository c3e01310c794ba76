#include "common/result.h"

#include <cstring>

namespace xb {

Error Error::from_errno(int err, std::string what) {
    if (err < 0) err = -err;
    return Error{err, std::move(what) + ": " + std::strerror(err)};
}

}  // namespace xb
