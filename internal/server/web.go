package server

import (
	"embed"
	"io/fs"
	"net/http"
)

// webFiles is the web page served at /: index.html, app.js and style.css, built into the
// binary so that the server never reads files from its working directory.
//
//go:embed web
var webFiles embed.FS

// webHandler serves the embedded page.
func webHandler() http.Handler {
	page, _ := fs.Sub(webFiles, "web") // cannot fail: "web" is a valid path
	files := http.FileServerFS(page)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
