// The client side of the control socket for `xbypass flows` and `xbypass stats`: pick the run
// (by the interface it runs, or the only one), send one request, read the reply.
#pragma once

#include <string>

#include "common/result.h"
#include "control/json_value.h"

namespace xb::cli {

// The control socket of the run on `interface` (empty: the only run). Errors say why none was picked
// (XB8201 none running, XB8202 several: name an interface), as the message.
Result<std::string> pick_socket(const std::string& interface);

// Sends `request_json`; the reply's "result" on success, else the reply's error as an Error.
Result<control::JsonValue> call(const std::string& socket, const std::string& request_json);

}  // namespace xb::cli
