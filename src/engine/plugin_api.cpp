#include "engine/plugin_api.h"

#include <dlfcn.h>

namespace xb::engine {

Result<PluginApi> PluginApi::load(const std::string& path) {
    PluginApi api;
    api.path = path;
    api.handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!api.handle) {
        const char* why = ::dlerror();
        return Error{ENOENT, "cannot load the plugin " + path + ": " + (why ? why : "unknown error")};
    }
    std::string missing;
#define XB_RESOLVE(name)                                                                  \
    api.name = reinterpret_cast<decltype(api.name)>(::dlsym(api.handle, #name));          \
    if (!api.name) missing += std::string(missing.empty() ? "" : ", ") + #name;
    XB_PLUGIN_FUNCTIONS(XB_RESOLVE)
#undef XB_RESOLVE
    if (!missing.empty()) {
        ::dlclose(api.handle);
        return Error{ENOENT, "the plugin " + path + " lacks " + missing + ": it is not xbypass, or too old"};
    }
    api.xb_expired_flows = reinterpret_cast<decltype(api.xb_expired_flows)>(::dlsym(api.handle, "xb_expired_flows"));
    if (uint32_t v = api.xb_abi_version(); v != XB_ABI_VERSION) {
        ::dlclose(api.handle);
        return Error{EPROTO, "the plugin " + path + " has ABI " + std::to_string(v) + ", xids needs ABI " +
                                 std::to_string(XB_ABI_VERSION)};
    }
    return api;
}

}  // namespace xb::engine
