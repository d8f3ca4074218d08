#include "form_dialog.h"

#include <gdk/gdkkeysyms.h>
#include <gdk/gdkx.h>
#undef Status

#include <cmath>
#include <cstdio>

#include "widgets.h"

namespace sdgimp::dialogs {

namespace {

std::string format_number(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

void changed_cb(gpointer, gpointer self) { static_cast<FormDialog*>(self)->values(); }

}  // namespace

FormDialog::FormDialog(FormConfig cfg) : cfg_(std::move(cfg)) {
    window_ = gtk_window_new(GTK_WINDOW_TOPLEVEL);
    gtk_window_set_title(GTK_WINDOW(window_), ("Diffusion — " + cfg_.title).c_str());
    gtk_window_set_type_hint(GTK_WINDOW(window_), GDK_WINDOW_TYPE_HINT_DIALOG);
    gtk_window_set_default_size(GTK_WINDOW(window_), 560, -1);
    g_signal_connect(window_, "delete-event", G_CALLBACK(+[](GtkWidget*, GdkEvent*, gpointer self) -> gboolean {
        auto* d = static_cast<FormDialog*>(self);
        if (d->running_) gtk_main_quit();
        gtk_widget_hide(d->window_);
        return TRUE;
    }), this);
    GtkWidget* box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 8);
    gtk_container_set_border_width(GTK_CONTAINER(box), 12);
    gtk_container_add(GTK_CONTAINER(window_), box);
    if (!cfg_.intro.empty()) {
        GtkWidget* intro = gtk_label_new(cfg_.intro.c_str());
        gtk_label_set_line_wrap(GTK_LABEL(intro), TRUE);
        gtk_label_set_xalign(GTK_LABEL(intro), 0);
        gtk_box_pack_start(GTK_BOX(box), intro, FALSE, FALSE, 0);
    }
    GtkWidget* grid = form_grid();
    int row = 0;
    for (const auto& f : cfg_.fields) {
        GtkWidget* w = nullptr;
        GtkWidget* packed = nullptr;
        switch (f.kind) {
            case FormField::Kind::kText:
                w = text_view(3);
                set_buffer_text(w, f.value);
                packed = gtk_widget_get_parent(w);
                gtk_widget_set_hexpand(packed, TRUE);
                g_signal_connect(gtk_text_view_get_buffer(GTK_TEXT_VIEW(w)), "changed", G_CALLBACK(changed_cb), this);
                break;
            case FormField::Kind::kEntry:
                w = gtk_entry_new();
                gtk_entry_set_text(GTK_ENTRY(w), f.value.c_str());
                gtk_widget_set_hexpand(w, TRUE);
                g_signal_connect(w, "changed", G_CALLBACK(changed_cb), this);
                break;
            case FormField::Kind::kCombo:
                w = combo(f.options);
                set_combo(w, f.value);
                g_signal_connect(w, "changed", G_CALLBACK(changed_cb), this);
                break;
            case FormField::Kind::kComboEntry:
            case FormField::Kind::kFile:
                w = combo_with_entry(f.options);
                set_combo(w, f.value);
                g_signal_connect(w, "changed", G_CALLBACK(changed_cb), this);
                if (f.kind == FormField::Kind::kFile) {
                    packed = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 4);
                    gtk_box_pack_start(GTK_BOX(packed), w, TRUE, TRUE, 0);
                    GtkWidget* browse = gtk_button_new_with_label("Browse…");
                    g_object_set_data_full(G_OBJECT(browse), "patterns",
                                           new std::vector<std::string>(f.file_patterns),
                                           +[](gpointer p) { delete static_cast<std::vector<std::string>*>(p); });
                    g_object_set_data(G_OBJECT(browse), "target", w);
                    g_object_set_data(G_OBJECT(browse), "save", GINT_TO_POINTER(f.save ? 1 : 0));
                    g_signal_connect(browse, "clicked", G_CALLBACK(+[](GtkButton* b, gpointer self) {
                        auto* d = static_cast<FormDialog*>(self);
                        const bool save = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(b), "save")) != 0;
                        GtkWidget* fc = gtk_file_chooser_dialog_new(save ? "Save as" : "Choose a file", GTK_WINDOW(d->window()),
                                                                    save ? GTK_FILE_CHOOSER_ACTION_SAVE : GTK_FILE_CHOOSER_ACTION_OPEN, "_Cancel",
                                                                    GTK_RESPONSE_CANCEL, save ? "_Save" : "_Open", GTK_RESPONSE_ACCEPT, nullptr);
                        if (save) gtk_file_chooser_set_do_overwrite_confirmation(GTK_FILE_CHOOSER(fc), TRUE);
                        const auto* pats = static_cast<std::vector<std::string>*>(g_object_get_data(G_OBJECT(b), "patterns"));
                        if (pats && !pats->empty()) {
                            GtkFileFilter* ff = gtk_file_filter_new();
                            std::string name;
                            for (const auto& p : *pats) {
                                gtk_file_filter_add_pattern(ff, p.c_str());
                                name += (name.empty() ? "" : ", ") + p;
                            }
                            gtk_file_filter_set_name(ff, name.c_str());
                            gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(fc), ff);
                        }
                        if (gtk_dialog_run(GTK_DIALOG(fc)) == GTK_RESPONSE_ACCEPT) {
                            gchar* path = gtk_file_chooser_get_filename(GTK_FILE_CHOOSER(fc));
                            set_combo(static_cast<GtkWidget*>(g_object_get_data(G_OBJECT(b), "target")), path);
                            g_free(path);
                        }
                        gtk_widget_destroy(fc);
                    }), this);
                    gtk_box_pack_start(GTK_BOX(packed), browse, FALSE, FALSE, 0);
                }
                break;
            case FormField::Kind::kSpin:
                w = spin(f.min, f.max, f.step, f.digits);
                set_num(w, std::atof(f.value.c_str()));
                g_signal_connect(w, "value-changed", G_CALLBACK(changed_cb), this);
                break;
            case FormField::Kind::kCheck:
                w = gtk_check_button_new();
                gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(w), f.value == "1" || f.value == "true");
                g_signal_connect(w, "toggled", G_CALLBACK(changed_cb), this);
                break;
        }
        if (!f.tooltip.empty()) gtk_widget_set_tooltip_text(w, f.tooltip.c_str());
        widgets_[f.key] = w;
        label_row(GTK_GRID(grid), row++, 0, f.label.c_str(), packed ? packed : w);
    }
    gtk_box_pack_start(GTK_BOX(box), grid, TRUE, TRUE, 0);
    info_ = gtk_label_new("");
    gtk_label_set_xalign(GTK_LABEL(info_), 0);
    gtk_label_set_line_wrap(GTK_LABEL(info_), TRUE);
    gtk_box_pack_start(GTK_BOX(box), info_, FALSE, FALSE, 0);
    error_ = gtk_label_new("");
    gtk_label_set_xalign(GTK_LABEL(error_), 0);
    gtk_label_set_line_wrap(GTK_LABEL(error_), TRUE);
    gtk_box_pack_start(GTK_BOX(box), error_, FALSE, FALSE, 0);
    GtkWidget* buttons = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    GtkWidget* ok = gtk_button_new_with_mnemonic(cfg_.ok_label.c_str());
    gtk_style_context_add_class(gtk_widget_get_style_context(ok), "suggested-action");
    g_signal_connect(ok, "clicked", G_CALLBACK(+[](GtkButton*, gpointer self) {
        auto* d = static_cast<FormDialog*>(self);
        if (d->accept() && d->running_) gtk_main_quit();
    }), this);
    GtkWidget* cancel = gtk_button_new_with_mnemonic("_Cancel");
    g_signal_connect(cancel, "clicked", G_CALLBACK(+[](GtkButton*, gpointer self) {
        auto* d = static_cast<FormDialog*>(self);
        d->accepted_ = false;
        gtk_widget_hide(d->window_);
        if (d->running_) gtk_main_quit();
    }), this);
    gtk_box_pack_end(GTK_BOX(buttons), ok, FALSE, FALSE, 0);
    gtk_box_pack_end(GTK_BOX(buttons), cancel, FALSE, FALSE, 0);
    gtk_box_pack_end(GTK_BOX(box), buttons, FALSE, FALSE, 0);
    widgets_["ok"] = ok;
    widgets_["cancel"] = cancel;
    GtkAccelGroup* accel = gtk_accel_group_new();
    gtk_window_add_accel_group(GTK_WINDOW(window_), accel);
    gtk_widget_add_accelerator(ok, "clicked", accel, GDK_KEY_Return, GDK_CONTROL_MASK, GTK_ACCEL_VISIBLE);
    gtk_widget_add_accelerator(cancel, "clicked", accel, GDK_KEY_Escape, static_cast<GdkModifierType>(0), GTK_ACCEL_VISIBLE);
    gtk_widget_show_all(window_);
    gtk_widget_hide(window_);
    if (cfg_.transient_for_xid) {
        GdkWindow* foreign = gdk_x11_window_foreign_new_for_display(gdk_display_get_default(), cfg_.transient_for_xid);
        gtk_widget_realize(window_);
        if (foreign) gdk_window_set_transient_for(gtk_widget_get_window(window_), foreign);
    }
    refresh();
}

FormDialog::~FormDialog() {
    if (window_) gtk_widget_destroy(window_);
}

GtkWidget* FormDialog::widget(const std::string& key) const {
    auto it = widgets_.find(key);
    return it == widgets_.end() ? nullptr : it->second;
}

FormValues FormDialog::values() const {
    FormValues v;
    for (const auto& f : cfg_.fields) {
        GtkWidget* w = widget(f.key);
        switch (f.kind) {
            case FormField::Kind::kText: v[f.key] = buffer_text(w); break;
            case FormField::Kind::kEntry: v[f.key] = gtk_entry_get_text(GTK_ENTRY(w)); break;
            case FormField::Kind::kCombo:
            case FormField::Kind::kComboEntry:
            case FormField::Kind::kFile: v[f.key] = combo_id(w); break;
            case FormField::Kind::kSpin: v[f.key] = format_number(num(w), f.digits); break;
            case FormField::Kind::kCheck: v[f.key] = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(w)) ? "1" : "0"; break;
        }
    }
    if (info_ && cfg_.describe) {
        // Live description (values() runs on every change through changed_cb).
        const std::string text = cfg_.describe(v);
        if (text != gtk_label_get_text(GTK_LABEL(info_))) gtk_label_set_text(GTK_LABEL(info_), text.c_str());
    }
    return v;
}

void FormDialog::set_value(const std::string& key, const std::string& value) {
    for (const auto& f : cfg_.fields) {
        if (f.key != key) continue;
        GtkWidget* w = widget(key);
        switch (f.kind) {
            case FormField::Kind::kText: set_buffer_text(w, value); break;
            case FormField::Kind::kEntry: gtk_entry_set_text(GTK_ENTRY(w), value.c_str()); break;
            case FormField::Kind::kCombo:
            case FormField::Kind::kComboEntry:
            case FormField::Kind::kFile: set_combo(w, value); break;
            case FormField::Kind::kSpin: set_num(w, std::atof(value.c_str())); break;
            case FormField::Kind::kCheck: gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(w), value == "1" || value == "true"); break;
        }
    }
}

void FormDialog::refresh() { values(); }

std::string FormDialog::info_text() const { return gtk_label_get_text(GTK_LABEL(info_)); }
std::string FormDialog::error_text() const { return gtk_label_get_text(GTK_LABEL(error_)); }

bool FormDialog::accept() {
    const FormValues v = values();
    const std::string problem = cfg_.validate ? cfg_.validate(v) : std::string();
    gtk_label_set_text(GTK_LABEL(error_), problem.c_str());
    if (!problem.empty()) return false;
    accepted_ = true;
    gtk_widget_hide(window_);
    return true;
}

bool FormDialog::run_modal() {
    accepted_ = false;
    running_ = true;
    gtk_window_present(GTK_WINDOW(window_));
    gtk_main();
    running_ = false;
    return accepted_;
}

}  // namespace sdgimp::dialogs
