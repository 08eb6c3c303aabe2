// Package web is Gatehouse's HTTP face: the public listener (partner
// sign-in, sessions, forward-auth, health, metrics, pages) and the JSON
// admin API served on the admin socket and the optional TCP listener.
// Handlers are thin: they parse requests, call app.Service and translate
// app.Error codes into statuses in one place (statusFor).
package web
