// A figure wider than the column scrolls sideways in it (_assets/book.css), so, like
// the code and tables the theme already handles, it must be reachable from the
// keyboard while it scrolls (axe: scrollable-region-focusable), and only then.
(() => {
  const mark = () => {
    for (const figure of document.querySelectorAll(".bd-article div.cell_output > figure")) {
      figure.tabIndex = figure.scrollWidth > figure.clientWidth ? 0 : -1;
    }
  };
  let pending = null;
  const later = () => {
    clearTimeout(pending);
    pending = setTimeout(mark, 200);
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mark);
  } else {
    mark();
  }
  window.addEventListener("load", mark);
  window.addEventListener("resize", later);
})();
