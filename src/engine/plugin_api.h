// The plugin as xids sees it: include/xbypass/plugin.h's functions, found with dlopen/dlsym in the
// library named by `plugins:` (the way Suricata loads the plugins its suricata.yaml lists). xids
// calls nothing else of xbypass, so it shows that the public ABI is enough for an engine.
#pragma once

#include <string>

#include "common/result.h"
#include "xbypass/plugin.h"

namespace xb::engine {

struct PluginApi {
#define XB_PLUGIN_FUNCTIONS(X)                                                                         \
    X(xb_abi_version) X(xb_version) X(xb_strerror) X(xb_last_error) X(xb_diagnostics_count)             \
    X(xb_diagnostics_get) X(xb_diagnostics_text) X(xb_diagnostics_free) X(xb_open) X(xb_close)         \
    X(xb_interface_count) X(xb_interface_get) X(xb_capture_open) X(xb_capture_recv)                    \
    X(xb_capture_release) X(xb_capture_verdict) X(xb_capture_stats_get) X(xb_capture_close)            \
    X(xb_capture_flow) X(xb_bypass) X(xb_unbypass) X(xb_bypass_counts) X(xb_stats_get) X(xb_reload)
#define XB_DECLARE_POINTER(name) decltype(&::name) name = nullptr;
    XB_PLUGIN_FUNCTIONS(XB_DECLARE_POINTER)
#undef XB_DECLARE_POINTER

    // Added to ABI 1 later: nullptr with an older library (xids then polls the counts instead).
    decltype(&::xb_expired_flows) xb_expired_flows = nullptr;

    void* handle = nullptr;
    std::string path;

    // dlopen()s `path` (a file name is searched in the loader's path) and resolves every function;
    // refuses a library whose ABI version is not the one this header describes.
    static Result<PluginApi> load(const std::string& path);
};

}  // namespace xb::engine
