#include "config/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "common/input_file.h"
#include "common/owners.h"
#include "config/schema.h"
#include "config/yaml.h"

namespace xb::config {

std::string_view datapath_name(Datapath d) {
    switch (d) {
        case Datapath::Auto: return "auto";
        case Datapath::XdpNative: return "xdp-native";
        case Datapath::XdpGeneric: return "xdp-generic";
        case Datapath::Tc: return "tc";
        case Datapath::Offload: return "offload";
    }
    return "auto";
}

std::string_view on_runtime_error_name(OnRuntimeError o) {
    return o == OnRuntimeError::Stop ? "stop" : o == OnRuntimeError::Warn ? "warn" : "degrade";
}

std::string_view on_unsupported_name(OnUnsupported o) {
    return o == OnUnsupported::Fallback ? "fallback" : "reject";
}

std::string_view coexist_name(Coexist c) {
    switch (c) {
        case Coexist::Refuse: return "refuse";
        case Coexist::Multiprog: return "multiprog";
        case Coexist::Replace: return "replace";
    }
    return "refuse";
}

std::string_view capture_method_name(CaptureMethod m) {
    switch (m) {
        case CaptureMethod::Auto: return "auto";
        case CaptureMethod::AfPacket: return "af-packet";
        case CaptureMethod::AfXdp: return "af-xdp";
    }
    return "auto";
}

std::string_view config_source_name(ConfigSource s) {
    switch (s) {
        case ConfigSource::None: return "none";
        case ConfigSource::Xbypass: return "xbypass";
        case ConfigSource::AfPacket: return "af-packet";
        case ConfigSource::AfXdp: return "af-xdp";
    }
    return "none";
}

const KeyOrigin* InterfaceConfig::origin_of(std::string_view key) const {
    auto it = origins.find(std::string(key));
    return it == origins.end() ? nullptr : &it->second;
}

const SourceLocation& InterfaceConfig::location_of(std::string_view key) const {
    const KeyOrigin* o = origin_of(key);
    return o ? o->location : origin.location;
}

const InterfaceConfig* Config::find(std::string_view name) const {
    for (const auto& i : interfaces) {
        if (i.name == name) return &i;
    }
    return nullptr;
}

namespace {

LoadedConfig load_text(std::string_view text, const std::string& name, const std::string& base_dir,
                       const LoadOptions& options) {
    LoadedConfig out;
    out.config.file = name;
    YamlNodePtr root = parse_yaml(text, name, out.diagnostics);
    if (!root) return out;
    out.config = validate_config(*root, name, base_dir, out.diagnostics, options);
    return out;
}

}  // namespace

LoadedConfig load_config_file(const std::string& path, const LoadOptions& options) {
    LoadedConfig out;
    out.config.file = path;
    auto io_failure = [&](const std::string& why) {
        out.io_error = true;
        out.diagnostics.error("XB1001", "cannot read configuration file '" + path + "': " + why,
                              "check the path given with -c and that the file is readable",
                              SourceLocation{path, 0, 0});
        return out;
    };
    const size_t max_bytes = YamlLimits{}.max_bytes;
    InputFile in = read_input_file(path, max_bytes);
    if (in.problem == InputFileProblem::TooLarge) {
        out.diagnostics.error("XB1002", "cannot read configuration file '" + path + "': " + in.why,
                              "check that this is the configuration file; a suricata.yaml is well under 1 MiB",
                              SourceLocation{path, 0, 0});
        return out;
    }
    if (!in.ok()) return io_failure(in.why);
    const std::string& text = in.bytes;
    // The file's directory ("/" for a file at the root); one substr keeps GCC 12's -Wrestrict quiet
    // under the sanitizers, where assigning a literal on one branch set it off.
    auto slash = path.rfind('/');
    std::string base_dir = slash == std::string::npos ? std::string(".") : path.substr(0, slash == 0 ? 1 : slash);
    return load_text(text, path, base_dir, options);
}

LoadedConfig load_config_string(std::string_view text, const std::string& name, const LoadOptions& options) {
    return load_text(text, name, "", options);
}

}  // namespace xb::config
