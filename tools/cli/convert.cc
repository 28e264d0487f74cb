// cairn convert (being written).
#include "cli.h"
namespace cairn_cli {
int RunConvert(Env&, const std::vector<std::string>&) { throw CliError("not implemented yet"); }
}  // namespace cairn_cli
