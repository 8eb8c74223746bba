// Package e2e holds browser end-to-end tests: the real server from
// testutil.StartServer, driven through the demo page in headless Chromium
// (testutil.NewBrowser). The tests skip without Chromium, except under
// CI=true, where they fail. On failure each tab's screenshot and console log
// are saved to a directory the test log names.
package e2e
