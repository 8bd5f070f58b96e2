// Package web owns the node's dashboard: static files embedded in the binary
// (no CDN, works offline), served by the HTTP API at / (pkg/control). The
// files hold no data and need no key; the page asks for the API key once,
// keeps it in sessionStorage (gone when the tab closes) and sends it as
// "Authorization: Bearer KEY" with every API call. Events come from
// /api/v1/events read with fetch() and a stream reader rather than
// EventSource, because EventSource cannot send headers: so the key never goes
// into a URL (where logs and the history would keep it). The last event ID
// and the events shown are kept in sessionStorage as well: a reload shows
// them and resumes the stream with Last-Event-ID, so nothing is missed.
//
// # Files
//
//	web.go             Handler: the embedded files, with no caching of index.html
//	static/index.html  the page
//	static/app.js      the page's logic: API calls, the SSE reader, rendering, forms
//	static/style.css   its looks
package web
