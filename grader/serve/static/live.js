// The instructor's report, live: every 10 s (while the box is ticked) the page's #live part is fetched
// again and swapped in, and the matrix is drawn anew. Text only arrives as this service's own escaped HTML.
(function () {
  var box = document.getElementById('live'), toggle = document.getElementById('live-toggle');
  if (!box || !toggle) return;
  function redraw() {
    var script = document.createElement('script');
    script.src = '/assets/matrix.js?' + Date.now();
    document.body.appendChild(script);
  }
  function refresh() {
    if (!toggle.checked) return;
    fetch(window.location.href, {credentials: 'same-origin'}).then(function (r) { return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('live');
        if (!fresh) return;
        box.innerHTML = fresh.innerHTML;
        redraw();
        document.getElementById('updated').textContent = new Date().toLocaleTimeString();
      });
  }
  setInterval(refresh, 10000);
})();
