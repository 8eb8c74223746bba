// Helpers for the signaling WebSocket, shared by the connection
// (connection.js) and the resume (resume.js).

/**
 * Sends on a socket that is open, and throws otherwise: a browser does not
 * throw for a socket the server is closing, it drops the frame and logs an
 * error to the console, which an app's error reporting then picks up.
 * @param {WebSocket} ws
 * @param {string} text
 */
export function sendOpen(ws, text) {
  if (ws.readyState !== 1) throw new Error('socket not open');
  ws.send(text);
}

/** @param {WebSocket} ws */
export function detach(ws) {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = null;
}
