// The dialogs of the menu entries that are not a generation loop (Upscale, SD Upscale, Remove
// Object, X/Y Plot, Load Model): labelled A1111 fields in a grid, an optional live description line
// (a checkpoint's family and hash), one-sentence errors in the dialog, OK / Cancel. The plug-in runs
// the operation with the values, as its non-interactive path does.
#pragma once

#include <gtk/gtk.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sdgimp::dialogs {

using FormValues = std::map<std::string, std::string>;

struct FormField {
    enum class Kind { kText, kEntry, kCombo, kComboEntry, kSpin, kCheck, kFile };
    std::string key, label;
    Kind kind = Kind::kEntry;
    std::vector<std::string> options;            // kCombo / kComboEntry / kFile (recent files)
    double min = 0, max = 100, step = 1;         // kSpin
    int digits = 0;
    std::string value;                           // initial value; "1"/"0" for kCheck
    std::string tooltip;
    std::vector<std::string> file_patterns;      // kFile: "*.safetensors", ...
    bool save = false;                           // kFile: Browse… chooses a file to write
    bool remembered = true;                      // the value is kept for the dialog's next opening
};

struct FormConfig {
    std::string title, ok_label = "_OK", intro;
    std::vector<FormField> fields;
    unsigned long transient_for_xid = 0;
    // A line under the fields, recomputed when a value changes (may be empty).
    std::function<std::string(const FormValues&)> describe;
    // Returns "" or the one-sentence problem that keeps the dialog open.
    std::function<std::string(const FormValues&)> validate;
};

class FormDialog {
public:
    explicit FormDialog(FormConfig cfg);
    ~FormDialog();
    FormDialog(const FormDialog&) = delete;
    FormDialog& operator=(const FormDialog&) = delete;

    FormValues values() const;
    void set_value(const std::string& key, const std::string& value);
    GtkWidget* widget(const std::string& key) const;
    GtkWidget* window() const { return window_; }
    std::string info_text() const;
    std::string error_text() const;

    bool accept();     // as OK: true when the values pass validation (the dialog then closes)
    bool run_modal();  // shows the dialog; true on OK, false on Cancel / close

private:
    void refresh();
    FormConfig cfg_;
    GtkWidget* window_ = nullptr;
    GtkWidget *info_ = nullptr, *error_ = nullptr;
    std::map<std::string, GtkWidget*> widgets_;
    bool running_ = false, accepted_ = false;
};

}  // namespace sdgimp::dialogs
