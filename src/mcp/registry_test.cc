#include "mcp/registry.h"

#include <gtest/gtest.h>

namespace gannet::mcp {
namespace {

TEST(RegistryTest, UriTemplateMatchesOneSegmentPerVariable) {
    Json vars = Json::object();
    ASSERT_TRUE(match_uri_template("test://template/{id}/data", "test://template/42/data", &vars));
    EXPECT_EQ(vars["id"], "42");
    Json none = Json::object();
    EXPECT_FALSE(match_uri_template("test://template/{id}/data", "test://template//data", &none));
    EXPECT_FALSE(match_uri_template("test://template/{id}/data", "test://template/a/b/data", &none));
    EXPECT_FALSE(match_uri_template("test://template/{id}/data", "test://other/1/data", &none));
}

ToolDef tool(Json definition) {
    ToolDef t;
    t.definition = std::move(definition);
    return t;
}

TEST(RegistryTest, ToolsKeepRegistrationOrderAndLaterPacksOverride) {
    Registry r;
    r.add_tool(tool(Json{{"name", "b"}, {"description", "1"}}));
    r.add_tool(tool(Json{{"name", "a"}}));
    r.add_tool(tool(Json{{"name", "b"}, {"description", "2"}}));
    ASSERT_EQ(r.tools().size(), 2u);
    EXPECT_EQ(r.tools()[0].name(), "b");
    EXPECT_EQ(r.find_tool("b")->definition["description"], "2");
    EXPECT_EQ(r.find_tool("c"), nullptr);
}

}  // namespace
}  // namespace gannet::mcp
