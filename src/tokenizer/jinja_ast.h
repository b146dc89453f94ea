// Internal: the syntax tree of the Jinja subset (see jinja.h for what the subset covers).
// Owner: tokenizer. Immutable after parsing.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace gannet::tokenizer::jinja {

struct Expr {
    enum class Kind {
        kLiteral,    // literal
        kName,       // name
        kList,       // args: items
        kDict,       // args: key0, value0, key1, value1, ...
        kGetAttr,    // args[0].name
        kGetItem,    // args[0][args[1]]
        kSlice,      // args[0][args[1]:args[2]:args[3]], missing parts are null
        kCall,       // args[0](args[1..], kwargs)
        kFilter,     // args[0] | name(args[1..], kwargs)
        kTest,       // args[0] is [not] name(args[1..])
        kUnary,      // name in {"not", "-", "+"}, args[0]
        kBinary,     // args[0] name args[1]; name in {or and == != < > <= >= in notin + - * / // % ~}
        kCondition,  // args[0] if args[1] else args[2] (args[2] may be null)
    };
    Kind kind = Kind::kLiteral;
    Value literal;
    std::string name;
    bool negated = false;  // kTest: "is not"
    std::vector<std::unique_ptr<Expr>> args;
    std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
    int line = 0;
};

struct Stmt {
    enum class Kind { kText, kOutput, kIf, kFor, kSet, kSetBlock, kBreak, kContinue, kMacro, kFilterBlock };
    Kind kind = Kind::kText;
    std::string text;                             // kText
    std::unique_ptr<Expr> expr;                   // kOutput, kSet value, kFor iterable
    std::vector<std::string> targets;             // kFor loop variables; kSet/kSetBlock: name (and attribute);
                                                  // kMacro: name, then parameter names
    std::vector<std::unique_ptr<Expr>> defaults;  // kMacro: per parameter, null when none
    std::unique_ptr<Expr> loop_filter;            // kFor: "for x in xs if cond"
    // kIf: (condition, body) per if/elif; a null condition is the else branch.
    std::vector<std::pair<std::unique_ptr<Expr>, std::vector<Stmt>>> branches;
    std::vector<Stmt> body;       // kFor, kSetBlock, kMacro, kFilterBlock (expr: the filter, args[0] null)
    std::vector<Stmt> else_body;  // kFor: runs when nothing was iterated
    int line = 0;
};

}  // namespace gannet::tokenizer::jinja
