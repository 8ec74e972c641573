package rplog

import "fmt"

// The tables below are read-only: the clients, files and names the
// simulated reverse proxy sees.

// browsers are the browsers running the web app; http2 marks those that
// may speak HTTP/2 to the proxy.
var browsers = []struct {
	agent string
	http2 bool
}{
	{webAppAgent, true},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", true},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67", true},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", true},
	{"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", false},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15", true},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1", true},
	{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", false},
}

// appAgents are the apps built on Pexip's SDKs (Android's OkHttp, iOS's
// URLSession), which send no referer.
var appAgents = []string{
	sdkAgent,
	"Pexip/2.4.1 CFNetwork/1494.0.7 Darwin/23.4.0",
}

// attackAgents are the HTTP libraries scripts use.
var attackAgents = []string{
	guesserAgent,
	"curl/8.5.0",
	"Go-http-client/1.1",
	"python-httpx/0.27.0",
}

// scanWords are the aliases a scanner tries besides numbers.
var scanWords = []string{
	"admin", "test", "meet", "conference", "vmr", "room", "lobby", "reception",
	"ivr", "sales", "support", "demo", "guest", "boardroom", "allhands", "ceo",
}

// conferenceNames name the conferences ("meet.<name>@example.com") and the
// registered users ("<name>@example.com"), most popular first.
var conferenceNames = []string{
	"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
	"ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil",
	"trent", "victor", "walter", "sales", "support", "board", "allhands", "training",
}

// pageBytes is the size of the web app's page, /webapp/.
const pageBytes = 4133

// webAppAssets returns the static files of the web app, in the order a
// browser fetches them: scripts, styles and fonts, then branding, sounds and
// the code-split chunks loaded as the app starts.
func webAppAssets() []asset {
	assets := []asset{
		{"/webapp/static/js/runtime.3f9a61c2.js", 2380},
		{"/webapp/static/js/vendor.91c2d7a4.js", 1183552},
		{"/webapp/static/js/main.4f1c2d9a.js", 642310},
		{"/webapp/static/css/main.7c3b1f2e.css", 48211},
		{"/webapp/config.json", 1860},
		{"/webapp/i18n/en.json", 58230},
		{"/webapp/static/media/Roboto-Regular.b5c7e9a1.woff2", 64248},
		{"/webapp/static/media/Roboto-Medium.0d2e8f13.woff2", 64580},
		{"/webapp/static/media/Roboto-Light.a41c77e0.woff2", 63712},
		{"/webapp/static/media/icons.5e0b2c9d.svg", 91244},
		{"/static/webapp/brand/settings.json", 2290},
		{"/static/webapp/brand/logo.png", 14873},
		{"/static/webapp/brand/background.jpg", 238410},
		{"/webapp/favicon.ico", 15086},
		{"/webapp/static/media/ringtone.8c1d0f4b.mp3", 88650},
		{"/webapp/static/media/join.27e4c3a9.mp3", 18230},
		{"/webapp/static/media/leave.f0a93d12.mp3", 17410},
		{"/webapp/static/js/worker-bg-blur.6d2a0e57.js", 233912},
		{"/webapp/static/media/selfie_segmentation.9b1e4c70.tflite", 249505},
	}
	for i := range 51 {
		// Pseudo content hashes and sizes, fixed so that the files stay the
		// same from run to run.
		h := uint32(i+1) * 2654435761
		assets = append(assets, asset{
			path:  fmt.Sprintf("/webapp/static/js/%d.%08x.chunk.js", i, h),
			bytes: 1200 + int(h%96000),
		})
	}
	return assets
}
