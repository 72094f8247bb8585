// The share page's live preview: the post text and its character count follow the textarea.
(function () {
  "use strict";
  var box = document.getElementById("share-text");
  if (!box) { return; }
  var preview = document.getElementById("preview-text");
  var count = document.getElementById("share-count");
  var limit = box.getAttribute("data-limit");
  function update() {
    preview.textContent = box.value;
    count.textContent = box.value.length + " / " + limit;
  }
  box.addEventListener("input", update);
})();
