// Pinned maps: kept under <pin-path>/<interface>/ so a restart keeps the flow table. A pinned map is
// reused only when its layout matches what this build expects (map type, key and value sizes,
// max entries, and the layout version recorded in the `xb_layout` map pinned beside it); anything
// else is refused with the reason, never silently reused or overwritten.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/owners.h"
#include "common/result.h"

namespace xb::datapath {

struct MapSpec {
    std::string name;  // pin file name
    uint32_t type = 0;  // enum bpf_map_type
    uint32_t key_size = 0;
    uint32_t value_size = 0;
    uint32_t max_entries = 0;
    uint32_t flags = 0;  // BPF_F_* map flags
};

inline constexpr const char* kLayoutMapName = "xb_layout";

enum class PinMismatch { None, Type, KeySize, ValueSize, MaxEntries, Flags };

struct PinCheck {
    PinMismatch mismatch = PinMismatch::None;
    std::string detail;  // "key size 40, expected 44" — empty when compatible
};

// Pure comparison (unit-tested): the pinned map's info against the expected spec.
PinCheck compare_layout(const MapSpec& expected, uint32_t type, uint32_t key_size, uint32_t value_size,
                        uint32_t max_entries, uint32_t flags);

// Pins made by one start. Pins this set created are removed by rollback() (or the destructor unless
// commit() was called); pins that were reused are never removed.
class PinSet {
public:
    explicit PinSet(std::string dir, uint32_t layout_version) : dir_(std::move(dir)), version_(layout_version) {}
    PinSet(PinSet&&) noexcept = default;
    PinSet& operator=(PinSet&&) noexcept = default;
    ~PinSet() { if (!committed_) rollback(); }

    const std::string& dir() const { return dir_; }
    std::string path_of(const std::string& name) const { return dir_ + "/" + name; }

    // Before loading: the pinned map for spec, if any and compatible (check the layout version first
    // with check_layout_version). nullopt when nothing is pinned there.
    Result<std::optional<UniqueFd>> open_existing(const MapSpec& spec) const;
    // Before loading: refuses a directory whose maps were written by another layout version.
    Status check_layout_version() const;
    // After loading and attaching: pins fd at dir/name (creating dir and the layout map as needed).
    Status pin(const std::string& name, int fd);
    void commit() { committed_ = true; }
    void rollback();
    const std::vector<std::string>& created() const { return created_; }

private:
    Status ensure_dir();
    std::string dir_;
    uint32_t version_ = 0;
    std::vector<std::string> created_;  // paths we pinned (and directories we made), in order
    bool committed_ = false;
};

}  // namespace xb::datapath
