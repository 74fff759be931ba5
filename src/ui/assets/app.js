// Progressive enhancement only: the page works fully without this file.
// A change of window or filter applies at once, without the Apply button.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form.filters");
  if (!form) return;
  const days = form.querySelector("select[name=days]");
  form.querySelectorAll("select, input[type=date]").forEach((field) => {
    field.addEventListener("change", () => {
      // A preset window replaces custom dates; a date makes the window custom.
      if (field === days && days.value !== "") {
        form.querySelectorAll("input[type=date]").forEach((d) => { d.value = ""; });
      } else if (field.type === "date") {
        days.value = "";
      }
      if (field.type === "date" && !form.querySelector("input[name=from]").value) return;
      form.requestSubmit();
    });
  });
});
