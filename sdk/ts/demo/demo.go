// Package demo holds the demo game page of the TypeScript SDK: index.html,
// play.js and hive.js, the SDK bundled for browsers (npm run bundle; a test
// fails when it is stale). `hive dev` serves it at /play/ on uc's port.
package demo

import "embed"

// Files are the page's files, at the root of the FS.
//
//go:embed index.html play.js hive.js
var Files embed.FS
