// `hearth advise --html FILE`: the advisor's Report as one self-contained HTML page. Styles are
// inline, charts are inline SVG drawn here (spend over time by placement, volume, latency
// distributions, the break-even curve), there is no script at all and nothing is fetched: the
// file works offline and can be mailed around. The figures are the Report's, formatted only.
#pragma once

#include <string>
#include <string_view>

#include "advisor/advisor.hpp"

namespace hearth::advisor {

std::string render_html(const Report& report);

// A recommendation in plain words ("Move local", "Hybrid: local first, escalate to cloud", ...),
// as the report and the dashboard show it.
std::string_view recommendation_words(Recommendation recommendation);

// &, <, >, " and ' as character references: safe in text and in quoted attribute values.
std::string html_escape(std::string_view text);

}  // namespace hearth::advisor
