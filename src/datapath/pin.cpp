#include "datapath/pin.h"

#include <bpf/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace xb::datapath {

namespace {
std::string expected_vs(const char* what, uint32_t got, uint32_t want) {
    return std::string(what) + " " + std::to_string(got) + ", expected " + std::to_string(want);
}
}  // namespace

PinCheck compare_layout(const MapSpec& e, uint32_t type, uint32_t key_size, uint32_t value_size,
                        uint32_t max_entries, uint32_t flags) {
    if (type != e.type) return {PinMismatch::Type, expected_vs("map type", type, e.type)};
    if (key_size != e.key_size) return {PinMismatch::KeySize, expected_vs("key size", key_size, e.key_size)};
    if (value_size != e.value_size)
        return {PinMismatch::ValueSize, expected_vs("value size", value_size, e.value_size)};
    if (max_entries != e.max_entries)
        return {PinMismatch::MaxEntries, expected_vs("max entries", max_entries, e.max_entries)};
    if (flags != e.flags) return {PinMismatch::Flags, expected_vs("map flags", flags, e.flags)};
    return {};
}

Result<std::optional<UniqueFd>> PinSet::open_existing(const MapSpec& spec) const {
    std::string path = path_of(spec.name);
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) {
        if (errno == ENOENT) return std::optional<UniqueFd>{};
        return Error::from_errno(errno, "cannot open pinned map " + path);
    }
    UniqueFd owned(fd);
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
        return Error{EINVAL, path + " is not a BPF map"};
    PinCheck c = compare_layout(spec, info.type, info.key_size, info.value_size, info.max_entries, info.map_flags);
    if (c.mismatch != PinMismatch::None) return Error{EEXIST, "pinned map " + path + " has another layout: " + c.detail};
    return std::optional<UniqueFd>(std::move(owned));
}

Status PinSet::check_layout_version() const {
    std::string path = path_of(kLayoutMapName);
    UniqueFd fd(bpf_obj_get(path.c_str()));
    if (!fd) {
        // Nothing pinned yet; each pinned map is still checked one by one by open_existing().
        if (errno == ENOENT) return {};
        return Error::from_errno(errno, "cannot open " + path);
    }
    uint32_t key = 0, value = 0;
    if (bpf_map_lookup_elem(fd.get(), &key, &value) != 0) return Error::from_errno(errno, "cannot read " + path);
    if (value != version_)
        return Error{EEXIST, "maps under " + dir_ + " have layout version " + std::to_string(value) +
                                 ", this build uses " + std::to_string(version_)};
    return {};
}

Status PinSet::ensure_dir() {
    // Every missing component, so that the default pin-path (/sys/fs/bpf/xbypass) need not exist
    // beforehand; the ones made here are removed again by rollback(), deepest first.
    for (size_t slash = dir_.find('/', 1);; slash = dir_.find('/', slash + 1)) {
        std::string part = slash == std::string::npos ? dir_ : dir_.substr(0, slash);
        if (::mkdir(part.c_str(), 0700) == 0) {
            created_.push_back(part);
        } else if (errno != EEXIST) {
            return Error::from_errno(errno, "cannot create pin directory " + part);
        }
        if (slash == std::string::npos) break;
    }
    std::string layout = path_of(kLayoutMapName);
    if (::access(layout.c_str(), F_OK) == 0) return {};
    UniqueFd fd(bpf_map_create(BPF_MAP_TYPE_ARRAY, kLayoutMapName, 4, 4, 1, nullptr));
    if (!fd) return Error::from_errno(errno, "cannot create the layout map");
    uint32_t key = 0;
    if (bpf_map_update_elem(fd.get(), &key, &version_, BPF_ANY) != 0)
        return Error::from_errno(errno, "cannot write the layout map");
    if (bpf_obj_pin(fd.get(), layout.c_str()) != 0) return Error::from_errno(errno, "cannot pin " + layout);
    created_.push_back(layout);
    return {};
}

Status PinSet::pin(const std::string& name, int fd) {
    if (auto st = ensure_dir(); !st) return st;
    std::string path = path_of(name);
    if (::access(path.c_str(), F_OK) == 0) return {};  // reused: already pinned there
    if (bpf_obj_pin(fd, path.c_str()) != 0) return Error::from_errno(errno, "cannot pin map at " + path);
    created_.push_back(path);
    return {};
}

void PinSet::rollback() {
    // Reverse order: files before the directory that holds them.
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
        if (::unlink(it->c_str()) != 0) (void)::rmdir(it->c_str());
    }
    created_.clear();
}

}  // namespace xb::datapath
