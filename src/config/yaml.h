// YAML layer of the configuration: a node tree built from libyaml events that keeps the line and
// column of every node, resolves anchors, aliases and `<<` merge keys, and refuses hostile input
// (oversized files, binary data, tabs in indentation, deep nesting, alias bombs) with diagnostics.
// It knows nothing about the xbypass schema (see schema.h).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/diagnostic.h"

namespace xb::config {

enum class YamlKind { Scalar, Sequence, Mapping };

struct YamlNode;
using YamlNodePtr = std::shared_ptr<const YamlNode>;

struct YamlNode {
    YamlKind kind = YamlKind::Scalar;
    std::string value;   // scalar text (empty for collections)
    bool plain = true;   // scalar written without quotes or block style; only plain scalars can be null
    SourceLocation loc;  // first character of the node (for an alias: of the anchored node)
    std::vector<YamlNodePtr> items;                             // sequence items
    std::vector<std::pair<YamlNodePtr, YamlNodePtr>> entries;   // mapping entries in file order, merges applied
    size_t weight = 1;   // nodes in this subtree with aliases expanded; bounded by YamlLimits::max_nodes

    bool is_scalar() const { return kind == YamlKind::Scalar; }
    bool is_sequence() const { return kind == YamlKind::Sequence; }
    bool is_mapping() const { return kind == YamlKind::Mapping; }
    // A plain empty scalar, "~" or "null" (any case the YAML 1.1 core schema allows).
    bool is_null() const;
    // First entry whose key is the scalar `key`, or nullptr.
    const YamlNode* find(std::string_view key) const;
};

struct YamlLimits {
    size_t max_bytes = 1u << 20;   // a complete suricata.yaml is ~80 KiB
    unsigned max_depth = 64;       // nesting of mappings and sequences
    size_t max_nodes = 100000;     // nodes with every alias expanded (stops "billion laughs")
};

// "kind" in words for messages: "a scalar", "a list", "a mapping".
std::string_view yaml_kind_name(YamlKind k);

// Parses one YAML document. On failure returns nullptr and adds at least one error diagnostic
// (codes XB1002-XB1012) located in `file`. An empty document yields a null scalar.
YamlNodePtr parse_yaml(std::string_view text, const std::string& file, Diagnostics& diags,
                       const YamlLimits& limits = {});

}  // namespace xb::config
