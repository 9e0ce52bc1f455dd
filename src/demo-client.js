// ringcast's browser client for the demo page, served by ringcast at /ringcast-client.js.
//
// Ringcast.SockJS(prefix): a SockJS connection over the SockJS WebSocket transport
// (<prefix>/<server>/<session>/websocket) using the browser's own WebSocket; no other
// transport. It offers what the demo uses of a SockJS object: onopen, onmessage({data}),
// onclose({code, reason}), send(text), close(), transport and readyState.
//
// Ringcast.Multiplex(sock): websocket-multiplex channels over that connection.
// channel(name) subscribes ("sub,<name>", then its onopen); its send(text) sends
// "msg,<name>,<text>", its close() sends "uns,<name>"; messages for it arrive as
// onmessage({data}).
// Subscriptions are sent again whenever the connection (re)opens.
(function (global) {
  'use strict';

  var CONNECTING = 0, OPEN = 1, CLOSING = 2, CLOSED = 3;

  function randomId(length) {
    var alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789', out = '';
    for (var i = 0; i < length; i++) out += alphabet.charAt(Math.floor(Math.random() * alphabet.length));
    return out;
  }

  // ws:// or wss:// URL of a session WebSocket under `prefix` (a path or an http(s) URL).
  function sessionUrl(prefix) {
    var base = /^https?:\/\//.test(prefix)
      ? prefix.replace(/^http/, 'ws')
      : (global.location.protocol === 'https:' ? 'wss://' : 'ws://') + global.location.host + prefix;
    var server = String(Math.floor(Math.random() * 1000));
    while (server.length < 3) server = '0' + server;
    return base.replace(/\/+$/, '') + '/' + server + '/' + randomId(8) + '/websocket';
  }

  function SockJS(prefix) {
    var self = this;
    this.readyState = CONNECTING;
    this.transport = 'websocket';
    this.url = prefix;
    this._closeEvent = null;
    this._openHooks = [];
    this._ws = new global.WebSocket(sessionUrl(prefix));
    this._ws.onmessage = function (e) { self._frame(String(e.data)); };
    this._ws.onclose = function (e) {
      self._finish(self._closeEvent || { code: e.code || 1006, reason: e.reason || 'connection lost' });
    };
  }

  // One SockJS frame: o (open), h (heartbeat), a[...] (messages), c[code,"reason"] (close).
  SockJS.prototype._frame = function (data) {
    var kind = data.charAt(0), payload = data.slice(1);
    if (kind === 'o' && this.readyState === CONNECTING) {
      this.readyState = OPEN;
      for (var h = 0; h < this._openHooks.length; h++) this._openHooks[h]();
      if (this.onopen) this.onopen({ type: 'open' });
    } else if (kind === 'a') {
      var messages;
      try { messages = JSON.parse(payload); } catch (err) { return this._fail(1002, 'broken frame'); }
      for (var i = 0; i < messages.length && this.readyState === OPEN; i++) {
        if (this.onmessage) this.onmessage({ type: 'message', data: messages[i] });
      }
    } else if (kind === 'c') {
      var close;
      try { close = JSON.parse(payload); } catch (err) { close = [1002, 'broken frame']; }
      this._closeEvent = { code: close[0], reason: close[1] };
      this._ws.close();
    }
  };

  SockJS.prototype._fail = function (code, reason) {
    this._closeEvent = { code: code, reason: reason };
    this._ws.close();
  };

  SockJS.prototype._finish = function (event) {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    event.type = 'close';
    if (this.onclose) this.onclose(event);
  };

  SockJS.prototype.send = function (text) {
    if (this.readyState !== OPEN) throw new Error('ringcast: send on a connection that is not open');
    this._ws.send(JSON.stringify([String(text)]));
  };

  SockJS.prototype.close = function (code, reason) {
    if (this.readyState === CLOSED || this.readyState === CLOSING) return;
    this.readyState = CLOSING;
    this._closeEvent = { code: code || 1000, reason: reason || 'Normal closure' };
    this._ws.close();
  };

  function Multiplex(sock) {
    var self = this;
    this._sock = sock;
    this._channels = {};
    // Channels opened before the connection subscribe when it opens.
    sock._openHooks.push(function () {
      for (var name in self._channels) self._subscribe(self._channels[name]);
    });
    sock.onmessage = function (e) { self._dispatch(String(e.data)); };
  }

  // "msg,<name>,<payload>" to the channel's onmessage; "uns,<name>" closes the channel.
  Multiplex.prototype._dispatch = function (data) {
    var first = data.indexOf(','), second = data.indexOf(',', first + 1);
    if (first < 0) return;
    var type = data.slice(0, first);
    var name = second < 0 ? data.slice(first + 1) : data.slice(first + 1, second);
    var channel = this._channels[name];
    if (!channel) return;
    if (type === 'msg' && second >= 0) {
      if (channel.onmessage) channel.onmessage({ type: 'message', data: data.slice(second + 1) });
    } else if (type === 'uns') {
      delete this._channels[name];
      if (channel.onclose) channel.onclose({ type: 'close' });
    }
  };

  Multiplex.prototype.channel = function (name) {
    var self = this;
    var channel = {
      name: name,
      send: function (text) {
        if (self._channels[name] === channel && self._sock.readyState === OPEN) {
          self._sock.send('msg,' + name + ',' + text);
        }
      },
      close: function () {
        if (self._channels[name] !== channel) return;
        delete self._channels[name];
        if (self._sock.readyState === OPEN) self._sock.send('uns,' + name);
        if (channel.onclose) channel.onclose({ type: 'close' });
      }
    };
    this._channels[name] = channel;
    if (this._sock.readyState === OPEN) this._subscribe(channel);
    return channel;
  };

  // Send the channel's `sub`, then its onopen (after the caller has had a chance to set it).
  Multiplex.prototype._subscribe = function (channel) {
    this._sock.send('sub,' + channel.name);
    setTimeout(function () { if (channel.onopen) channel.onopen({ type: 'open' }); }, 0);
  };

  global.Ringcast = { SockJS: SockJS, Multiplex: Multiplex, version: 1 };
})(window);
