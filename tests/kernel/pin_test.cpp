// Pinned maps against the real bpffs: created, reused when the layout matches, refused otherwise,
// and removed on rollback (only what this start created).
#include <bpf/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datapath/pin.h"
#include "harness/sandbox.h"

namespace xb::datapath {
namespace {

MapSpec flows_spec(uint32_t max_entries = 1024, uint32_t key_size = 40) {
    return MapSpec{"flows", BPF_MAP_TYPE_HASH, key_size, 32, max_entries};
}

UniqueFd create(const MapSpec& s) {
    return UniqueFd(bpf_map_create(static_cast<bpf_map_type>(s.type), s.name.c_str(), s.key_size, s.value_size,
                                   s.max_entries, nullptr));
}

uint32_t map_id(int fd) {
    bpf_map_info info{};
    uint32_t len = sizeof info;
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

bool exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

TEST(PinnedMaps, RollbackRemovesOnlyWhatThisStartCreated) {
    XB_REQUIRE_KERNEL();
    test::Sandbox sb;
    std::string dir = sb.pin_dir("pins") + "/veth0";
    auto spec = flows_spec();
    auto fd = create(spec);
    ASSERT_TRUE(fd);
    {
        PinSet pins(dir, 1);
        ASSERT_TRUE(pins.check_layout_version());
        auto existing = pins.open_existing(spec);
        ASSERT_TRUE(existing);
        EXPECT_FALSE(existing->has_value());
        ASSERT_TRUE(pins.pin("flows", fd.get()));
        EXPECT_TRUE(exists(dir + "/flows"));
        EXPECT_TRUE(exists(dir + "/xb_layout"));
    }  // not committed: rolled back
    EXPECT_FALSE(exists(dir)) << "an uncommitted start must leave nothing pinned";
}

TEST(PinnedMaps, ReusedWhenLayoutMatchesRefusedOtherwise) {
    XB_REQUIRE_KERNEL();
    test::Sandbox sb;
    std::string dir = sb.pin_dir("pins") + "/veth0";
    auto spec = flows_spec();
    auto fd = create(spec);
    {
        PinSet first(dir, 1);
        ASSERT_TRUE(first.pin("flows", fd.get()));
        first.commit();
    }
    uint32_t id = map_id(fd.get());
    fd.reset();  // only the pin keeps the map now
    {
        PinSet second(dir, 1);
        ASSERT_TRUE(second.check_layout_version());
        auto existing = second.open_existing(spec);
        ASSERT_TRUE(existing) << existing.error().message;
        ASSERT_TRUE(existing->has_value());
        EXPECT_EQ(map_id((*existing)->get()), id) << "the same map must be reused";
        ASSERT_TRUE(second.pin("flows", (*existing)->get()));
        second.rollback();
        EXPECT_TRUE(exists(dir + "/flows")) << "rollback must not remove a pin it reused";
    }
    {
        PinSet resized(dir, 1);
        auto r = resized.open_existing(flows_spec(4096));
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message.find("max entries 1024, expected 4096"), std::string::npos) << r.error().message;
        auto k = resized.open_existing(flows_spec(1024, 44));
        ASSERT_FALSE(k);
        EXPECT_NE(k.error().message.find("key size 40, expected 44"), std::string::npos) << k.error().message;
        MapSpec unpreallocated = flows_spec();
        unpreallocated.flags = BPF_F_NO_PREALLOC;
        auto f = resized.open_existing(unpreallocated);
        ASSERT_FALSE(f);
        EXPECT_NE(f.error().message.find("map flags 0, expected 1"), std::string::npos) << f.error().message;
    }
    {
        PinSet newer(dir, 2);
        auto st = newer.check_layout_version();
        ASSERT_FALSE(st);
        EXPECT_NE(st.error().message.find("layout version 1, this build uses 2"), std::string::npos)
            << st.error().message;
    }
}

struct LayoutCase {
    uint32_t type, key, value, max, flags;
    PinMismatch expected;
};
class CompareLayout : public ::testing::TestWithParam<LayoutCase> {};
TEST_P(CompareLayout, Table) {
    const auto& c = GetParam();
    auto r = compare_layout(flows_spec(), c.type, c.key, c.value, c.max, c.flags);
    EXPECT_EQ(r.mismatch, c.expected) << r.detail;
    EXPECT_EQ(r.detail.empty(), c.expected == PinMismatch::None);
}
INSTANTIATE_TEST_SUITE_P(
    Table, CompareLayout,
    ::testing::Values(LayoutCase{BPF_MAP_TYPE_HASH, 40, 32, 1024, 0, PinMismatch::None},
                      LayoutCase{BPF_MAP_TYPE_LRU_HASH, 40, 32, 1024, 0, PinMismatch::Type},
                      LayoutCase{BPF_MAP_TYPE_HASH, 36, 32, 1024, 0, PinMismatch::KeySize},
                      LayoutCase{BPF_MAP_TYPE_HASH, 40, 24, 1024, 0, PinMismatch::ValueSize},
                      LayoutCase{BPF_MAP_TYPE_HASH, 40, 32, 2048, 0, PinMismatch::MaxEntries},
                      LayoutCase{BPF_MAP_TYPE_HASH, 40, 32, 1024, BPF_F_NO_PREALLOC, PinMismatch::Flags},
                      // type is checked first: the detail names the first difference only
                      LayoutCase{BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0, PinMismatch::Type}));

}  // namespace
}  // namespace xb::datapath
