// libFuzzer target: the YAML loader and the schema validator on arbitrary bytes. Any crash, leak or
// UBSan report fails; so does a rejection without a diagnostic or an acceptance without interfaces.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.h"
#include "engine/xids_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    xb::config::LoadOptions options;
    options.inspect_custom_programs = false;  // keep fuzz inputs away from the file system
    std::string_view text(reinterpret_cast<const char*>(data), size);
    xb::config::LoadedConfig loaded = xb::config::load_config_string(text, "fuzz.yaml", options);
    if (loaded.accepted() && loaded.config.interfaces.empty()) std::abort();
    if (!loaded.accepted() && !loaded.diagnostics.has_errors()) std::abort();
    for (const auto& d : loaded.diagnostics) {
        if (d.code.size() != 6 || d.message.empty()) std::abort();
        (void)d.to_text();
        (void)d.to_json();
    }
    // The same bytes as xids.yaml: the engine's sections go through the same readers.
    auto xids = xb::engine::load_xids_config_string(std::string(text), "fuzz.yaml");
    if (!xids.ok() && !xids.diagnostics.has_errors()) std::abort();
    for (const auto& d : xids.diagnostics)
        if (d.code.size() != 6 || d.message.empty()) std::abort();
    return 0;
}
