// A small JSON reader for control requests: objects, arrays, strings (with \u escapes), numbers,
// booleans and null, with a nesting limit. Parsing is total: any input gives a value or an error.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace xb::control {

class JsonValue {
public:
    enum class Kind { Null, Bool, Number, String, Array, Object };

    Kind kind() const { return kind_; }
    bool is_object() const { return kind_ == Kind::Object; }
    bool boolean() const { return bool_; }
    double number() const { return number_; }
    const std::string& string() const { return string_; }
    const std::vector<JsonValue>& array() const { return array_; }
    const std::map<std::string, JsonValue>& object() const { return object_; }
    // The member `key` of an object, or nullptr.
    const JsonValue* get(std::string_view key) const;

    static Result<JsonValue> parse(std::string_view text);

private:
    friend class JsonParser;
    Kind kind_ = Kind::Null;
    bool bool_ = false;
    double number_ = 0;
    std::string string_;
    std::vector<JsonValue> array_;
    std::map<std::string, JsonValue> object_;
};

inline constexpr int kJsonMaxDepth = 16;

}  // namespace xb::control
