// cairn diff (being written).
#include "cli.h"
namespace cairn_cli {
int RunDiff(Env&, const std::vector<std::string>&) { throw CliError("not implemented yet"); }
}  // namespace cairn_cli
