// Package doccheck finds the command lines that documentation shows, so tests
// can parse each against the real CLI and docs cannot drift from it: the
// lines of fenced code blocks in Markdown (README.md) and of help texts, with
// `\` continuations joined, comments dropped, and `&&`, `;`, `|` and a
// trailing `&` splitting commands. A command is kept when one of its words is
// the program (bare, or in a bin directory such as /opt/meshnode/bin/) and not a
// flag's value (`go build -o bin/meshnode` is not a meshnode command line).
package doccheck
