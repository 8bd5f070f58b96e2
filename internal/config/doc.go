// Package config owns the settings of meshnode's commands as one table per
// command: each Setting names a long flag, its environment variable, type,
// default, usage text, whether it is secret, and whether a reload can apply it
// live or it needs a restart. From that one table come
//
//   - the command's urfave/cli flags (Table.Flags),
//   - the keys of its TOML config file (top-level keys = long flag names) and
//     the file's sections of named items ([serve.NAME], [use.NAME]),
//   - the merged result with each value's source (Table.Resolve: flag > env >
//     file > default) and its printout (Values.Print, for --print-config),
//   - the README's table of keys (Table.Markdown), which a test compares with
//     the README so docs and flags cannot drift,
//   - what a reload changed (Diff), split into live changes and "restart
//     needed".
//
// Adding a setting is one entry in a command's table. The package knows no
// command: meshnode and rendezvous each own their table; what values mean
// (ranges, addresses, files) stays with the command, which reports a bad value
// with Values.Errorf so a value from the file names the file, line and key.
//
// Files are parsed with github.com/BurntSushi/toml. Its metadata has no key
// positions, so lines.go finds the line of each key with a small scanner of
// the same text; every error about a file value names the file, the line and
// the key. Unknown keys, wrong types and values that do not parse are errors:
// a file with any error is rejected whole.
package config
