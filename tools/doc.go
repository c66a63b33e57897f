// Package tools holds the logic of Hive's command-line tools, one package
// each, so that cmd/hive only parses flags and calls in: tap (`hive tap`),
// replay (`hive replay`), repl (`hive client`), bench (`hive bench`) and
// admin (`hive admin`). What their tests share is in internal/tooltest.
package tools
