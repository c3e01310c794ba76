// Minimal streaming JSON writer: enough for EVE-style records, probe and diagnostic output.
// Commas are placed automatically; keys and values are escaped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xb {

class JsonWriter {
public:
    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(std::string_view k);
    JsonWriter& value(std::string_view s);
    JsonWriter& value(const char* s) { return value(std::string_view(s)); }
    JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
    JsonWriter& value(bool b);
    JsonWriter& value(int64_t n);
    JsonWriter& value(uint64_t n);
    JsonWriter& value(int n) { return value(static_cast<int64_t>(n)); }
    JsonWriter& value(unsigned n) { return value(static_cast<uint64_t>(n)); }
    JsonWriter& value(long long n) { return value(static_cast<int64_t>(n)); }
    JsonWriter& value(unsigned long long n) { return value(static_cast<uint64_t>(n)); }
    JsonWriter& value(double d);
    JsonWriter& null();
    // Shorthand for key(k).value(v).
    template <class V>
    JsonWriter& field(std::string_view k, const V& v) { key(k); return value(v); }
    JsonWriter& raw(std::string_view json);  // an already-encoded JSON value

    const std::string& str() const { return out_; }

private:
    void comma();
    std::string out_;
    std::vector<bool> first_;  // per open container: no element written yet
    bool after_key_ = false;
};

// Appends s to out as a JSON string literal (with quotes).
void json_escape(std::string& out, std::string_view s);

}  // namespace xb
