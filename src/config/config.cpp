#include "config/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

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
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return io_failure(std::strerror(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return io_failure(std::strerror(errno));
    if (S_ISDIR(st.st_mode)) return io_failure("it is a directory");
    const size_t max_bytes = YamlLimits{}.max_bytes;
    if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes) {
        out.diagnostics.error("XB1002",
                              "the file is " + std::to_string(st.st_size) + " bytes, more than the limit of " +
                                  std::to_string(max_bytes),
                              "check that this is the configuration file; a suricata.yaml is well under 1 MiB",
                              SourceLocation{path, 0, 0});
        return out;
    }
    // Read at most one byte past the limit: enough for the loader to report the size.
    const size_t cap = max_bytes + 1;
    std::string text;
    char buf[65536];
    while (text.size() < cap) {
        ssize_t n = ::read(fd.get(), buf, std::min(sizeof buf, cap - text.size()));
        if (n < 0) {
            if (errno == EINTR) continue;
            return io_failure(std::strerror(errno));
        }
        if (n == 0) break;
        text.append(buf, static_cast<size_t>(n));
    }
    std::string base_dir;
    if (auto slash = path.rfind('/'); slash != std::string::npos) base_dir = slash == 0 ? "/" : path.substr(0, slash);
    else base_dir = ".";
    return load_text(text, path, base_dir, options);
}

LoadedConfig load_config_string(std::string_view text, const std::string& name, const LoadOptions& options) {
    return load_text(text, name, "", options);
}

}  // namespace xb::config
