// The tile editor: the address field is labelled by what the chosen kind reads (its reader's address_label).
// Without this script the label of the kind chosen when the page was drawn stays, and the store's error says
// what was expected; nothing else depends on it. The preview needs no script: its button posts into the frame.
(function () {
  "use strict";
  var kind = document.getElementById("tile-kind");
  if (!kind) { return; }
  var label = document.getElementById("tile-address-label");
  var hint = document.getElementById("tile-address-hint");
  function update() {
    var option = kind.options[kind.selectedIndex];
    if (!option) { return; }
    if (label && option.dataset.label) { label.textContent = option.dataset.label; }
    if (hint && option.dataset.hint) { hint.textContent = option.dataset.hint; }
  }
  kind.addEventListener("change", update);
  update();
}());
