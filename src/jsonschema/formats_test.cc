#include "jsonschema/formats.h"

#include <gtest/gtest.h>

#include "jsonschema/idna.h"

namespace gannet::jsonschema {
namespace {

bool check(const char* format, const char* value) {
    FormatCheck f = find_format(format);
    EXPECT_NE(f, nullptr) << format;
    return f != nullptr && f(value);
}

TEST(FormatsTest, UnknownFormatHasNoChecker) {
    EXPECT_EQ(find_format("no-such-format"), nullptr);
}

TEST(FormatsTest, DateTimeHonoursLeapSecondsAndCalendar) {
    EXPECT_TRUE(check("date-time", "1998-12-31T23:59:60Z"));
    EXPECT_TRUE(check("date-time", "1998-12-31T15:59:60.123-08:00"));
    EXPECT_FALSE(check("date-time", "1998-12-31T23:58:60Z"));
    EXPECT_FALSE(check("date", "2021-02-29"));
    EXPECT_TRUE(check("date", "2020-02-29"));
    EXPECT_FALSE(check("time", "12:00:00"));  // offset required
}

TEST(FormatsTest, DurationFollowsRfc3339AppendixA) {
    EXPECT_TRUE(check("duration", "P4DT12H30M5S"));
    EXPECT_TRUE(check("duration", "P2W"));
    EXPECT_FALSE(check("duration", "P1Y2D"));
    EXPECT_FALSE(check("duration", "PT1D"));
    EXPECT_FALSE(check("duration", "P"));
}

TEST(FormatsTest, NetworkAddresses) {
    EXPECT_TRUE(check("ipv4", "192.168.0.1"));
    EXPECT_FALSE(check("ipv4", "192.168.0.01"));
    EXPECT_TRUE(check("ipv6", "::ffff:192.168.0.1"));
    EXPECT_FALSE(check("ipv6", "1::d6::42"));
    EXPECT_TRUE(check("email", "\"joe bloggs\"@example.com"));
    EXPECT_FALSE(check("email", "te..st@example.com"));
    EXPECT_TRUE(check("idn-email", "\xEC\x8B\xA4\xEB\xA1\x80@example.com"));
}

TEST(FormatsTest, HostnamesIncludingIdn) {
    EXPECT_TRUE(check("hostname", "www.example.com"));
    EXPECT_FALSE(check("hostname", "-bad.example"));
    EXPECT_TRUE(check("hostname", "xn--9n2bp8q.xn--9t4b11yi5a"));
    EXPECT_FALSE(check("hostname", "xn--X"));
    EXPECT_TRUE(check("idn-hostname", "l\xC2\xB7l"));
    EXPECT_FALSE(check("idn-hostname", "a\xC2\xB7l"));
}

TEST(FormatsTest, PunycodeRoundTrips) {
    std::vector<uint32_t> cps;
    ASSERT_TRUE(idna::punycode_decode("ihqwcrb4cv8a8dqg056pqjye", cps));
    std::string back;
    ASSERT_TRUE(idna::punycode_encode(cps, back));
    EXPECT_EQ(back, "ihqwcrb4cv8a8dqg056pqjye");
}

TEST(FormatsTest, UrisAndTemplates) {
    EXPECT_TRUE(check("uri", "http://foo.bar/?baz=qux#quux"));
    EXPECT_FALSE(check("uri", "abc"));
    EXPECT_TRUE(check("uri-reference", "abc"));
    EXPECT_FALSE(check("uri-reference", "1:b"));
    EXPECT_TRUE(check("iri", "http://\xC6\x92\xC3\xB8\xC3\xB8.com/"));
    EXPECT_TRUE(check("uri-template", "http://example.com/{term:1}/{term}"));
    EXPECT_FALSE(check("uri-template", "{v:0}"));
}

TEST(FormatsTest, PointersUuidRegex) {
    EXPECT_TRUE(check("json-pointer", "/a~1b/~0"));
    EXPECT_FALSE(check("json-pointer", "/a~2"));
    EXPECT_TRUE(check("relative-json-pointer", "0#"));
    EXPECT_FALSE(check("relative-json-pointer", "01/a"));
    EXPECT_TRUE(check("uuid", "2EB8AA08-AA98-11EA-B4AA-73B441D16380"));
    EXPECT_FALSE(check("regex", "(?i)x"));
}

}  // namespace
}  // namespace gannet::jsonschema
